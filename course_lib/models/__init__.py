"""Every network the course trains or inspects: AlexNet (paper, torchvision, scaled), the
per-layer summary and the pre-2012 baseline.

    from course_lib.models import alexnet, summarize
    net = alexnet("paper")                 # a function, as in torchvision
    summarize(net, 224)                    # per-layer shapes, parameters and MACs

=========================  ======================================================================
name                       what it is (module)
=========================  ======================================================================
``alexnet(variant, ...)``  builds the networks (:mod:`.alexnet`)
``AlexNet``                the network class (:mod:`.alexnet`)
``LocalResponseNorm``      LRN with both readings of α (:mod:`.lrn`)
``summarize``              per-layer accounting (:mod:`.summary`)
``load_pretrained``        torchvision's ImageNet weights, verified (:mod:`.pretrained`)
``HandcraftedBaseline``    HOG + colour histograms + a linear classifier (:mod:`.baselines`)
=========================  ======================================================================

``models`` never imports ``datasets``; ``load_pretrained`` uses the neutral verified downloader.
The baseline (scikit-learn, scikit-image) and the pretrained loader are imported on first use.
"""

from .alexnet import AlexNet, alexnet
from .lrn import LocalResponseNorm
from .summary import summarize

__all__ = ["AlexNet", "HandcraftedBaseline", "LocalResponseNorm", "alexnet", "load_pretrained",
           "summarize"]


def __getattr__(name: str):
    if name == "load_pretrained":
        from .pretrained import load_pretrained

        return load_pretrained
    if name == "HandcraftedBaseline":
        from .baselines import HandcraftedBaseline

        return HandcraftedBaseline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
