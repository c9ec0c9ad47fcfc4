"""Transfer learning on Fashion-MNIST with fastcnn.transfer.

    python examples/transfer_fashion_mnist.py [--data-root DIR] [--finetune-images 1000] [--seed 0]

1. Pre-train LeNet-5 (modern: ReLU, max pooling) on classes 0-4 (T-shirt, trouser, pullover, dress, coat).
2. Move to classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) with only --finetune-images training
   images and the same small budget for every contender:
   - frozen: the pre-trained model, new head (replace_head), convolutional features frozen (freeze);
   - fine-tuned: the pre-trained model, new head, every layer trainable;
   - scratch: a freshly initialised LeNet-5.
   Each prints its test accuracy on the 5,000 test images of classes 5-9.
Takes about 1-2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np

import fastcnn
from fastcnn import nn, transfer
from fastcnn.data import DataLoader, FashionMNIST
from fastcnn.data import transforms as T
from fastcnn.train import Pad, evaluate, fit

MEAN, STD = 0.2860, 0.3530  # of the Fashion-MNIST training images


def subset(root, train, classes, limit=None, seed=0):
    """The images of `classes`, labels renumbered 0..len(classes)-1, at most `limit` (a seeded sample)."""
    transform = T.Compose([T.ToTensor(), T.Normalize([MEAN], [STD]), Pad(2, fill=-MEAN / STD)])  # 28 -> 32
    ds = FashionMNIST(root=root, train=train, transform=transform)
    keep = np.flatnonzero(np.isin(ds.targets, classes))
    if limit is not None:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=min(limit, len(keep)), replace=False))
    ds.data = ds.data[keep]
    ds.targets = np.searchsorted(np.asarray(classes), ds.targets[keep]).astype(np.int64)
    return ds


def train(model, ds, epochs, lr, seed):
    loader = DataLoader(ds, batch_size=32, shuffle=True, seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    fit(model, loader, epochs, fastcnn.optim.SGD(params, lr=lr, momentum=0.9), nn.CrossEntropyLoss(),
        progress=False)
    return model


def accuracy(model, ds):
    return evaluate(model, DataLoader(ds, batch_size=500))["accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="folder with the Fashion-MNIST files (default: the usual places)")
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--finetune-images", type=int, default=1000)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    old, new = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]

    fastcnn.manual_seed(args.seed)
    base = fastcnn.models.lenet5(num_classes=5, variant="modern")
    pretrain = subset(args.data_root, True, old)
    train(base, pretrain, args.pretrain_epochs, 0.01, args.seed)
    print(f"pre-trained on classes 0-4 ({args.pretrain_epochs} epochs, {len(pretrain):,} images): "
          f"test accuracy {accuracy(base, subset(args.data_root, False, old)):.4f}")

    small = subset(args.data_root, True, new, limit=args.finetune_images, seed=args.seed)
    test = subset(args.data_root, False, new)
    budget = f"{len(small)} images, {args.finetune_epochs} epochs"
    state = {k: v.numpy().copy() for k, v in base.state_dict().items()}

    def pretrained():
        model = fastcnn.models.lenet5(num_classes=5, variant="modern")
        model.load_state_dict(state)
        return transfer.replace_head(model, 5)

    results = {}
    fastcnn.manual_seed(args.seed + 1)
    frozen = transfer.freeze(pretrained(), until="features")  # train only the classifier
    results["frozen features, new head"] = accuracy(train(frozen, small, args.finetune_epochs, 0.01, args.seed), test)
    fastcnn.manual_seed(args.seed + 1)
    results["fine-tuned, all layers"] = accuracy(train(pretrained(), small, args.finetune_epochs, 0.01, args.seed),
                                                 test)
    fastcnn.manual_seed(args.seed + 1)
    scratch = fastcnn.models.lenet5(num_classes=5, variant="modern")
    results["from scratch"] = accuracy(train(scratch, small, args.finetune_epochs, 0.01, args.seed), test)
    print(f"classes 5-9, {budget}; test accuracy on {len(test):,} images:")
    for name, acc in results.items():
        print(f"  {name:28s} {acc:.4f}")


if __name__ == "__main__":
    main()
