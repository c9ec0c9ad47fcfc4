"""fastcnn.summary against the published tables (AlexNet 2012 conv1, VGG-16, GoogLeNet) and the
receptive-field recurrences computed by hand."""

import numpy as np
import pytest

import fastcnn
from fastcnn import models, nn


def test_alexnet_original_conv1_and_receptive_fields(capsys):
    s = fastcnn.summary(models.alexnet(variant="original"), (3, 227, 227))
    assert "features.0 (Conv2d)" in capsys.readouterr().out  # printed
    conv1 = s.layer("features.0")
    assert conv1.params == 34_944 and conv1.output_shape == (1, 96, 55, 55)
    assert conv1.mult_adds == 55 * 55 * 96 * 11 * 11 * 3
    assert (conv1.rf, conv1.jump) == ((11, 11), (4, 4))
    # r += (k - 1) * j, j *= s: pool1 19/8, conv2 51/8, pool2 67/16, conv3-5 99/131/163, pool5 195/32
    expect = {"features.3": (19, 8), "features.4": (51, 8), "features.7": (67, 16), "features.8": (99, 16),
              "features.10": (131, 16), "features.12": (163, 16), "features.14": (195, 32)}
    for name, (r, j) in expect.items():
        row = s.layer(name)
        assert (row.rf, row.jump) == ((r, r), (j, j)), name
    assert s.total_params == 62_378_344 and s.output_shape == (1, 1000)
    assert "Total params: 62,378,344" in s


def test_vgg16_shapes_and_parameters():
    s = fastcnn.summary(models.vgg16(), (3, 224, 224), print_summary=False)
    convs = [r for r in s.layers if r.type == "Conv2d"]
    sizes = [224] * 2 + [112] * 2 + [56] * 3 + [28] * 3 + [14] * 3
    chans = [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    assert [r.output_shape for r in convs] == [(1, c, h, h) for c, h in zip(chans, sizes)]
    pools = [r.output_shape for r in s.layers if r.type == "MaxPool2d"]
    assert pools == [(1, 64, 112, 112), (1, 128, 56, 56), (1, 256, 28, 28), (1, 512, 14, 14), (1, 512, 7, 7)]
    assert s.total_params == s.trainable_params == 138_357_544
    assert s.layer("classifier.0").params == 25088 * 4096 + 4096
    assert s.total_mult_adds == 15_470_264_320  # 15.5 G multiply-adds, the usual figure
    assert s.layer("features.30").rf == (212, 212) and s.layer("features.30").jump == (32, 32)


def test_googlenet_per_layer_output_sizes_of_the_paper():
    s = fastcnn.summary(models.googlenet(), (3, 224, 224), depth=1, print_summary=False)
    table = {"conv1": (64, 112), "maxpool1": (64, 56), "conv3": (192, 56), "maxpool2": (192, 28),
             "inception3a": (256, 28), "inception3b": (480, 28), "maxpool3": (480, 14),
             "inception4a": (512, 14), "inception4b": (512, 14), "inception4c": (512, 14),
             "inception4d": (528, 14), "inception4e": (832, 14), "maxpool4": (832, 7),
             "inception5a": (832, 7), "inception5b": (1024, 7), "avgpool": (1024, 1)}
    for name, (c, h) in table.items():
        assert s.layer(name).output_shape == (1, c, h, h), name
    assert s.total_params == 13_004_888  # aux heads exist (not run in eval) and are counted
    shown = [line.split()[0] for line in s.splitlines()[3:]]
    assert "inception3a.branch1.conv" not in shown and "inception3a" in shown  # depth=1 rows only
    # branches meet at the concatenation: 3a's receptive field is its widest branch's
    assert s.layer("inception3a").rf >= s.layer("inception3a.branch1").rf


def test_recurrences_on_a_small_network_and_branches():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 2, 3, stride=2, padding=1)        # r 3, j 2
            self.b = nn.Conv2d(2, 2, (3, 5), dilation=2, padding=(2, 4))  # r 3+4*2=11, 3+8*2=19
            self.c = nn.Conv2d(2, 2, 1)                               # 1x1: unchanged
            self.pool = nn.MaxPool2d(2)                               # r +1*2, j 4

        def forward(self, x):
            y = self.a(x)
            return self.pool(self.b(y) + self.c(y))

    s = fastcnn.summary(Net(), (1, 1, 16, 16), print_summary=False)
    assert (s.layer("a").rf, s.layer("a").jump) == ((3, 3), (2, 2))
    assert s.layer("b").rf == (11, 19) and s.layer("c").rf == (3, 3)
    assert (s.layer("pool").rf, s.layer("pool").jump) == ((13, 21), (4, 4))  # max over the two branches
    assert s.layer("pool").output_shape == (1, 2, 4, 4)
    assert s.layer("b").mult_adds == 8 * 8 * 2 * 2 * 15 and s.total_params == 2 * 9 + 2 + 2 * 2 * 15 + 2 + 6
    assert "13x21" in s


def test_summary_restores_training_mode_and_forward():
    m = models.resnet8()
    m.train()
    s = fastcnn.summary(m, (3, 32, 32), print_summary=False)
    assert all(mod.training for mod in m.modules()) and "forward" not in m.layer1.__dict__
    assert s.output_shape == (1, 10) and s.total_params == 75_290
    assert s.layer("fc").mult_adds == 64 * 10


@pytest.mark.parametrize("args,exc,match", [
    ((models.lenet5(), (1, 32)), ValueError, "input_shape"),
    ((models.lenet5(), "abc"), TypeError, "input_shape"),
    ((models.lenet5(), (1, 0, 32)), ValueError, "input_shape"),
    (("model", (1, 32, 32)), TypeError, "model must be"),
])
def test_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        fastcnn.summary(*args, print_summary=False)


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        fastcnn.summary(models.lenet5(), (1, 32, 32), depth=0, print_summary=False)
