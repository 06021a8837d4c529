"""Every network the course trains or inspects: AlexNet (paper, torchvision, scaled), the
per-layer summary and the pre-2012 baseline.

``alexnet.alexnet(variant, ...)`` builds the networks, ``lrn`` holds local response
normalisation with both readings of α, ``summary.summarize(model, input_size)`` does per-layer
accounting, ``pretrained.load_pretrained(model)`` loads torchvision's ImageNet weights, and
``baselines.HandcraftedBaseline`` is the HOG + colour-histogram + linear-classifier pipeline.

``models`` never imports ``datasets`` at module level; only ``load_pretrained`` reaches for the
verified downloader (``datasets.download.download_file``) when it is called.
"""
