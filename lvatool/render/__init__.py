"""Pictures of what an extension saw: frames as sent, with their inferences drawn on them.

:mod:`lvatool.render.images` turns a sent sample (any encoding, any RAW layout) into an
RGB Pillow image, :mod:`lvatool.render.draw` draws a frame's inferences on one, and
:mod:`lvatool.render.video` writes a run's frames, annotated, as an H.264 video
(``lvatool simulate --annotate``). Pillow and PyAV are loaded only by these modules.
"""
