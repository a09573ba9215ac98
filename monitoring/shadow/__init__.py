"""Shadow evaluation: a candidate version and the version the alias points at now, replayed on the
rows production sent, in a child process with none of the portal's secrets.

- evaluations: asking for one (on a promotion request), running it on the shadow queue, storing it;
- replay: the child process per model, its limits, and the rows it is given (child.py runs in it);
- environments: the interpreter each model runs in (the worker's, or a virtualenv built by uv);
- stats: agreement, differences, prediction drift and metrics (pure);
- charts: the evaluation page's figures (pure).
The gate's "shadow" check is in monitoring/gate.py."""
