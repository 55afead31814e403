"""The packaged locustfile: ``lvatool-locust`` (or ``locust -f`` this file) runs it.

One concrete camera user with every setting from the ``--lva-*`` options. For cameras of
several kinds in one run, write your own locustfile with subclasses of
:class:`lvatool.loadtest.CameraUser` (each with its own ``lva_*`` attributes and weight).
"""

from lvatool.loadtest.user import CameraUser


class Camera(CameraUser):
    """A camera with the settings of the ``--lva-*`` options (``--help`` lists them)."""
