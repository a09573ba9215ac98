"""gunicorn settings of the portal: `make run` uses them, and so should production
(`gunicorn mlopsportal.wsgi --config python:mlopsportal.gunicorn_conf ...`, README: Production).
Options given on the command line or in GUNICORN_CMD_ARGS still win over these."""

# Idle connections stay open longer than clients keep them pooled between requests. At gunicorn's
# default of 2 s, a client that waits longer than that between requests (a serving system posting
# a batch every 5 s, a person reading a page) can send its next request just as the server closes
# the connection: the load benchmark lost 41 of 5,598 requests that way (21 batch posts, 4
# rejections, GETs reset), none of them in gunicorn's log. 75 s is above the idle timeout of the
# usual load balancers in front (60 s), so they close first, as they should.
keepalive = 75
