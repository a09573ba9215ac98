"""Monitoring's pages, one module per area: monitors (the list and each monitor's views), setup
(creating, editing and acting on a monitor), alerts (the alerts page and alert actions) and shadow
(shadow evaluations). Forms are in monitoring.forms; reads in monitoring.selectors."""
