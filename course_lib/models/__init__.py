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
The baseline imports scikit-learn and scikit-image only when it is fitted.
"""

from .alexnet import AlexNet, alexnet
from .baselines import HandcraftedBaseline
from .lrn import LocalResponseNorm
from .pretrained import load_pretrained
from .summary import summarize

__all__ = ["AlexNet", "HandcraftedBaseline", "LocalResponseNorm", "alexnet", "load_pretrained",
           "summarize"]

