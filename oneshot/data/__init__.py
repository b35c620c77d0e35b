"""Data files shipped with the GLiT plugin.

`fashion_mnist_subset.npz` is a class-balanced subset of Fashion-MNIST (MIT licence, see
`LICENSE-fashion-mnist.txt`) so that demos and tests train offline; it is rebuilt
byte-for-byte by `python -m oneshot.data.rebuild_fashion_mnist`.
"""
