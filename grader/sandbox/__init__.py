"""The sandbox: where student code runs.

`launch` (trusted) starts a sandboxed template process with bubblewrap, or with resource
limits and an unprivileged user where bubblewrap is missing; `worker` (untrusted, runs
inside) is that template and the workers it forks.
"""
