"""Server-rendered web UI: Jinja2 + HTMX, zh-CN and en."""
