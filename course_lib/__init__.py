"""course_lib: the helper library of the ImageNet → AlexNet course.

Importing this package has no side effects: it seeds nothing, sets no global flags, downloads
nothing and prints nothing. Import the submodules you need, e.g.::

    from course_lib.profiles import current_profile
    from course_lib.device import pick_device
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
