"""`systolica demo` (the README's first command) end to end, with a short RTL slice."""

import re
import subprocess
import sys


def test_demo_prints_accuracies_and_rtl_equals_golden():
    r = subprocess.run([sys.executable, "-m", "systolica.cli", "demo", "--rtl-samples", "2", "--fp8-rtl-samples", "2"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    accs = re.findall(r"float accuracy ([\d.]+)%, int8 accuracy ([\d.]+)%", r.stdout)
    assert len(accs) == 2, r.stdout                      # MLP and CNN
    for f, q in accs:
        assert float(f) >= 93 and float(q) >= float(f) - 2, (f, q)
    fp8 = re.findall(r"FP8 accuracy .*: E4M3 ([\d.]+)%, E5M2 ([\d.]+)%, E4M3 x E5M2 ([\d.]+)%", r.stdout)
    assert len(fp8) == 2, r.stdout                       # every FP8 format within 2 points of float
    for (f, _), accs8 in zip(accs, fp8):
        assert all(float(a) >= float(f) - 2 for a in accs8), (f, accs8)
    # int8: MLP, CNN and the final line; FP8: each model in each of the 3 formats, every layer
    assert r.stdout.count("RTL == golden: True") == 3 + 2 * 3, r.stdout
    fp8_rtl = re.findall(r"(E4M3|E5M2|E4M3 x E5M2) +\(8x8_fp8\w+\): RTL == golden: True on 2 images, every layer",
                         r.stdout)
    assert fp8_rtl == ["E4M3", "E5M2", "E4M3 x E5M2"] * 2, r.stdout
    assert "RTL == golden: False" not in r.stdout
    assert len(re.findall(r"layer \d+ +(linear|conv2d).*cycles  utilization", r.stdout)) == 6, r.stdout
