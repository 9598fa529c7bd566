import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from eval.lpips import LPIPS, LPIPSWeightsError, linear_weights_path, load_lpips, lpips_status

# torchvision's alexnet().features convs: index -> (out, in, kernel)
_CONVS = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}


def _random_alexnet_state(seed=0):
    """A torchvision-format alexnet state_dict with random (He-initialised) weights, classifier included."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, (cout, cin, k) in _CONVS.items():
        state[f"features.{i}.weight"] = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        state[f"features.{i}.bias"] = 0.01 * torch.randn(cout, generator=g)
    state["classifier.1.weight"] = torch.randn(8, 16, generator=g)  # ignored (a real one is 4096 x 9216)
    state["classifier.1.bias"] = torch.zeros(8)
    return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    state = _random_alexnet_state()
    path = tmp_path_factory.mktemp("alexnet") / "alexnet.pth"
    torch.save(state, path)
    return path, state


def _naive_lpips(state, lins, x, y):
    """LPIPS written out layer by layer (conv, relu, pools), without the module under test."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def taps(img):
        h = ((img * 2 - 1) - shift) / scale
        h1 = F.relu(F.conv2d(h, state["features.0.weight"], state["features.0.bias"], stride=4, padding=2))
        h2 = F.relu(F.conv2d(F.max_pool2d(h1, 3, 2), state["features.3.weight"], state["features.3.bias"], padding=2))
        h3 = F.relu(F.conv2d(F.max_pool2d(h2, 3, 2), state["features.6.weight"], state["features.6.bias"], padding=1))
        h4 = F.relu(F.conv2d(h3, state["features.8.weight"], state["features.8.bias"], padding=1))
        h5 = F.relu(F.conv2d(h4, state["features.10.weight"], state["features.10.bias"], padding=1))
        return [h1, h2, h3, h4, h5]

    out = torch.zeros(x.shape[0])
    for fx, fy, w in zip(taps(x), taps(y), lins, strict=True):
        for n in range(x.shape[0]):
            a, b = fx[n], fy[n]  # (C, h, w)
            a = a / torch.sqrt(1e-8 + (a**2).sum(0, keepdim=True))
            b = b / torch.sqrt(1e-8 + (b**2).sum(0, keepdim=True))
            per_pixel = ((a - b) ** 2 * w.view(-1, 1, 1)).sum(0)
            out[n] += per_pixel.mean()
    return out


def _images(seed=0, n=3, size=64):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_identity_symmetry_and_monotone_in_noise(weights):
    model = LPIPS.from_file(weights[0])
    x = _images()
    assert torch.equal(model(x, x), torch.zeros(3))
    g = torch.Generator().manual_seed(1)
    noisy = {s: (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1) for s in (0.02, 0.1, 0.3)}
    y = noisy[0.1]
    assert torch.allclose(model(x, y), model(y, x), atol=1e-6)
    d = [model(x, noisy[s]) for s in (0.02, 0.1, 0.3)]
    assert bool((d[0] > 0).all()) and bool((d[0] < d[1]).all()) and bool((d[1] < d[2]).all())


def test_matches_naive_reference_with_shipped_linear_weights(weights):
    path, state = weights
    model = LPIPS.from_file(path)
    lin_state = torch.load(linear_weights_path(), map_location="cpu", weights_only=True)
    lins = [lin_state[f"lin{k}.model.1.weight"].flatten() for k in range(5)]
    assert all(bool((w >= 0).all()) for w in lins)  # LPIPS v0.1 linear weights are non-negative
    x, y = _images(2), _images(3)
    assert torch.allclose(model(x, y), _naive_lpips(state, lins, x, y), rtol=1e-4, atol=1e-6)
    small = LPIPS.from_file(path, resize=64)
    xs, ys = _images(4, size=24), _images(5, size=24)
    up = dict(size=(64, 64), mode="bilinear", align_corners=False)
    # resize happens after the affine input scaling, which commutes with bilinear interpolation
    ref = _naive_lpips(state, lins, F.interpolate(xs, **up), F.interpolate(ys, **up))
    assert torch.allclose(small(xs, ys), ref, rtol=1e-4, atol=1e-6)


def test_safetensors_backbone_gives_the_same_model(weights, tmp_path):
    path, state = weights
    st = tmp_path / "alexnet.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    x, y = _images(6), _images(7)
    assert torch.allclose(LPIPS.from_file(st)(x, y), LPIPS.from_file(path)(x, y))


def test_missing_or_invalid_weights_are_one_line_errors(weights, tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(LPIPSWeightsError) as err:
        LPIPS.from_file(missing)
    assert str(missing) in str(err.value) and "not found" in str(err.value) and "\n" not in str(err.value)
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="cannot read") as err:
        LPIPS.from_file(garbage)
    assert str(garbage) in str(err.value) and "\n" not in str(err.value)
    _, state = weights
    incomplete = tmp_path / "incomplete.pth"
    torch.save({k: v for k, v in state.items() if k != "features.6.weight"}, incomplete)
    with pytest.raises(ValueError, match="features.6.weight"):
        LPIPS.from_file(incomplete)
    wrong = tmp_path / "wrong.pth"
    torch.save({**state, "features.0.weight": torch.zeros(64, 3, 5, 5)}, wrong)
    with pytest.raises(ValueError, match=r"features\.0\.weight.*\(64, 3, 11, 11\)"):
        LPIPS.from_file(wrong)


def test_status_for_reports(weights, tmp_path):
    assert lpips_status(weights[0]) == (True, f"AlexNet weights from {weights[0]}")
    available, reason = lpips_status(None)
    assert not available and "--lpips-weights" in reason
    available, reason = lpips_status(tmp_path / "absent.pth")
    assert not available and "absent.pth" in reason
    model, _ = load_lpips(weights[0])
    assert isinstance(model, LPIPS)


def test_small_frames_and_bad_shapes_are_rejected(weights):
    model = LPIPS.from_file(weights[0])
    with pytest.raises(ValueError, match="^pred: .*resize=64"):
        model(torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24))
    with pytest.raises(ValueError, match="^target:"):
        model(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 60))
    with pytest.raises(ValueError, match="^resize:"):
        LPIPS(resize=8)
