"""Reference processors to serve as they are or to copy: see :mod:`lvatool.examples.motion`.

The dark/light classifier of R4 lives in :mod:`lvatool.server.darklight`; these are the
examples beyond it, each loadable with ``lvatool serve --processor lvatool.examples.NAME:process``.
"""
