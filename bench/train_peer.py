"""bench/train_peer.py: the PyTorch / scikit-learn side of bench/train.sh.

  train_peer.py report BUILD      the whole benchmark: export, run ours
                                  (BUILD/bench_train) and the peers, print
                                  the table
  train_peer.py export DIR        write the benchmark data (float32, "F32M"
                                  header) that both engines read
  train_peer.py torch DIR CASE THREADS EPOCHS LR WD
                                  train PyTorch's same model, print key=value
  train_peer.py sklearn DIR EPOCHS
                                  LogisticRegression / MLPClassifier test
                                  accuracies on the same split

Data: digits from examples/data/digits.csv when the repository has it, else
sklearn.datasets.load_digits() (bundled, offline); pixels / 16; a fixed
stratified 80/20 split (random_state 0). MNIST-sized: 60000 x 784 uniform
[0, 1) features, labels argmax((x - 0.5) W) for a fixed random W (seed 0).
"""
import os
import struct
import sys
import time

import numpy as np


def peak_rss_kb():
    # VmHWM of this process image (ru_maxrss would include the parent's
    # peak, which survives fork + exec)
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return -1


def write(path, a):
    a = np.ascontiguousarray(a, dtype='<f4')
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    with open(path, 'wb') as f:
        f.write(b'F32M' + struct.pack('<II', a.shape[0], a.shape[1]))
        f.write(a.tobytes())


def read(path):
    with open(path, 'rb') as f:
        head = f.read(12)
        assert head[:4] == b'F32M'
        rows, cols = struct.unpack('<II', head[4:])
        return np.fromfile(f, dtype='<f4').reshape(rows, cols)


def export(d):
    from sklearn.model_selection import train_test_split
    csv = os.path.join(os.path.dirname(__file__), '..', 'examples', 'data',
                       'digits.csv')
    if os.path.exists(csv):
        a = np.loadtxt(csv, delimiter=',', skiprows=1, dtype=np.float64)
        x, y = a[:, :-1], a[:, -1]
        src = 'examples/data/digits.csv'
    else:
        from sklearn.datasets import load_digits
        x, y = load_digits(return_X_y=True)
        src = 'sklearn.datasets.load_digits()'
    x = x / 16.0
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2,
                                          random_state=0, stratify=y)
    write(f'{d}/digits_train_x.f32', xtr)
    write(f'{d}/digits_train_y.f32', ytr)
    write(f'{d}/digits_test_x.f32', xte)
    write(f'{d}/digits_test_y.f32', yte)
    rng = np.random.default_rng(0)
    xm = rng.random((60000, 784), dtype=np.float32)
    w = rng.standard_normal((784, 10)).astype(np.float32)
    ym = ((xm - 0.5) @ w).argmax(1)
    write(f'{d}/mnist_train_x.f32', xm)
    write(f'{d}/mnist_train_y.f32', ym)
    print(f'digits: {len(ytr)} train / {len(yte)} test rows from {src}')


def run_torch(d, case, threads, epochs, lr, wd, seed=0):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = torch.from_numpy(read(f'{d}/{case}_train_x.f32'))
    y = torch.from_numpy(read(f'{d}/{case}_train_y.f32')[:, 0]).long()
    sizes = [x.shape[1]] + ([128] if case == 'digits' else [256, 128]) + [10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    # the peer's fastest form of the same update: multi-tensor (foreach)
    # Adam, gradients set to None rather than zeroed
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd,
                           foreach=True)
    lossf = torch.nn.CrossEntropyLoss()
    batch = 64 if case == 'digits' else 128
    n = x.shape[0]
    train_time = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        correct = 0
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = lossf(out, yb)
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == yb).sum().item()
        train_time += time.perf_counter() - t0
    print(f'samples_per_s={n * epochs / train_time:.1f}')
    print(f'train_acc={correct / n:.4f}')
    test = f'{d}/{case}_test_x.f32'
    if os.path.exists(test):
        with torch.no_grad():
            tx = torch.from_numpy(read(test))
            ty = torch.from_numpy(read(f'{d}/{case}_test_y.f32')[:, 0]).long()
            acc = (model(tx).argmax(1) == ty).float().mean().item()
        print(f'test_acc={acc:.4f}')
    else:
        print('test_acc=nan')
    print(f'peak_rss_kb={peak_rss_kb()}')


def run_sklearn(d, epochs, seed=0):
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    warnings.simplefilter('ignore', ConvergenceWarning)
    xtr = read(f'{d}/digits_train_x.f32')
    ytr = read(f'{d}/digits_train_y.f32')[:, 0]
    xte = read(f'{d}/digits_test_x.f32')
    yte = read(f'{d}/digits_test_y.f32')[:, 0]
    lr = LogisticRegression(C=1.0, max_iter=5000).fit(xtr, ytr)
    print(f'logreg_test_acc={lr.score(xte, yte):.4f}')
    mlp = MLPClassifier(hidden_layer_sizes=(128,), activation='relu',
                        solver='adam', alpha=1e-4, batch_size=64,
                        learning_rate_init=1e-3, max_iter=epochs,
                        n_iter_no_change=epochs + 1, shuffle=True,
                        random_state=seed).fit(xtr, ytr)
    print(f'mlp_test_acc={mlp.score(xte, yte):.4f}')


SEEDS = [0, 1, 2, 3, 4]
DIGITS_EPOCHS = 200
MNIST_EPOCHS = 3
DIGITS_WD = 1e-4 / 64      # sklearn's alpha=1e-4 is alpha/batch per step
LOGREG_WD = 1.0 / 1437     # sklearn's C=1: 1/(C n) as a mean-loss L2 term


def run(cmd):
    import subprocess
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(l.split('=', 1) for l in out.stdout.split() if '=' in l)


def ours(build, d, train, test, model, training):
    import json
    r = run([f'{build}/bench_train', d, train, test, json.dumps(model),
             json.dumps(training)])
    return {k: float(v) for k, v in r.items()}


def theirs(d, *args):
    r = run([sys.executable, __file__, 'torch', d] + [str(a) for a in args])
    return {k: float(v) for k, v in r.items()}


def report(build):
    threads = int(os.environ.get('BENCH_THREADS', '1'))
    d = f'{build}/traindata'
    os.makedirs(d, exist_ok=True)
    if not os.path.exists(f'{d}/mnist_train_y.f32'):
        export(d)
    import subprocess
    have_torch = subprocess.run([sys.executable, '-c', 'import torch'],
                                capture_output=True).returncode == 0
    if not have_torch:
        print('PyTorch is not installed for this python3 '
              '(Debian: apt-get install python3-torch): torch columns skipped')
    print(f'threads: {threads} on both sides (torch.set_num_threads, '
          f'openblas_set_num_threads, OPENBLAS_NUM_THREADS/OMP_NUM_THREADS); '
          f'the same environment for both (OPENBLAS_CORETYPE='
          f'{os.environ.get("OPENBLAS_CORETYPE", "unset")})')
    mlp = {'type': 'mlp', 'hidden': [128], 'init': 'xavier'}

    def mlp_training(seed):
        return {'optimizer': 'adam', 'learning_rate': 1e-3,
                'weight_decay': DIGITS_WD, 'batch_size': 64,
                'epochs': DIGITS_EPOCHS, 'threads': threads, 'seed': seed}

    repeats = int(os.environ.get('BENCH_REPEATS', '3'))

    def speed(our_args, their_args):
        # alternate the two engines and keep the median of each: the
        # machine is shared, and alternation spreads the noise evenly
        mine, peer = [], []
        for _ in range(repeats):
            mine.append(ours(build, d, *our_args))
            if have_torch:
                peer.append(theirs(d, *their_args))

        def median(runs):
            if not runs:
                return None
            runs = sorted(runs, key=lambda r: r['samples_per_s'])
            m = dict(runs[len(runs) // 2])
            m['peak_rss_kb'] = max(r['peak_rss_kb'] for r in runs)
            return m
        return median(mine), median(peer)

    rows = []
    # speed (a): digits 64-128-10, batch 64, Adam
    a, b = speed(('digits_train', 'digits_test', mlp, mlp_training(0)),
                 ('digits', threads, DIGITS_EPOCHS, 1e-3, DIGITS_WD))
    rows.append(('digits 64-128-10 b64', a, b))
    # speed (b): MNIST-sized 784-256-128-10, batch 128, Adam
    big = {'type': 'mlp', 'hidden': [256, 128]}
    a2, b2 = speed(('mnist_train', '-', big,
                    {'optimizer': 'adam', 'learning_rate': 1e-3,
                     'batch_size': 128, 'epochs': MNIST_EPOCHS,
                     'threads': threads, 'seed': 0}),
                   ('mnist', threads, MNIST_EPOCHS, 1e-3, 0))
    rows.append(('mnist-sized 784-256-128-10 b128', a2, b2))
    with open('/proc/loadavg') as f:
        load = f.read().split()[0]
    print(f'samples/s: median of {repeats} alternating runs per engine; '
          f'load average {load} on {os.cpu_count()} CPUs')
    print()
    print(f'{"case":34} {"ours samples/s":>15} {"torch samples/s":>16} '
          f'{"ratio":>6} {"target":>7}   {"ours RSS MiB":>12} '
          f'{"torch RSS MiB":>13} {"RSS budget MiB":>14}')
    for name, o, t in rows:
        ratio = o['samples_per_s'] / t['samples_per_s'] if t else float('nan')
        budget = (o['data_bytes'] + 3 * o['model_bytes']) / 2**20 + 64
        rss = o['peak_rss_kb'] / 1024
        print(f'{name:34} {o["samples_per_s"]:15.0f} '
              f'{t["samples_per_s"] if t else float("nan"):16.0f} '
              f'{ratio:6.2f} {">=1.5":>7} {"ok" if ratio >= 1.5 else "MISS":4}'
              f'{rss:11.1f} {t["peak_rss_kb"] / 1024 if t else float("nan"):13.1f}'
              f' {budget:14.1f} {"ok" if rss <= budget else "OVER"}')
    print(f'final train accuracy, mnist-sized after {MNIST_EPOCHS} epochs: '
          f'ours {a2["train_acc"]:.4f}, torch '
          f'{b2["train_acc"] if b2 else float("nan"):.4f}')

    # accuracy on the fixed 80/20 digits split, mean over seeds
    print()
    print(f'digits test accuracy (fixed stratified 80/20 split, '
          f'{DIGITS_EPOCHS} epochs, mean of seeds {SEEDS}):')
    lr_ours = [ours(build, d, 'digits_train', 'digits_test',
                    {'type': 'logistic'},
                    {'optimizer': 'adam', 'learning_rate': 0.01,
                     'weight_decay': LOGREG_WD, 'batch_size': 64,
                     'epochs': DIGITS_EPOCHS, 'threads': threads,
                     'seed': s})['test_acc'] for s in SEEDS]
    mlp_ours = [ours(build, d, 'digits_train', 'digits_test', mlp,
                     mlp_training(s))['test_acc'] for s in SEEDS]
    sk = [run([sys.executable, __file__, 'sklearn', d, str(DIGITS_EPOCHS),
               str(s)]) for s in SEEDS]
    lr_sk = [float(r['logreg_test_acc']) for r in sk]
    mlp_sk = [float(r['mlp_test_acc']) for r in sk]
    mlp_torch = [theirs(d, 'digits', threads, DIGITS_EPOCHS, 1e-3,
                        DIGITS_WD, s)['test_acc']
                 for s in SEEDS] if have_torch else []

    def mean(v):
        return sum(v) / len(v) if v else float('nan')

    def line(name, o, ref, refname, tol):
        ok = mean(o) >= mean(ref) - tol
        print(f'  {name:22} ours {100 * mean(o):6.2f}  {refname:28} '
              f'{100 * mean(ref):6.2f}  {"ok" if ok else "MISS"} '
              f'(ours per seed: {" ".join(f"{100 * x:.1f}" for x in o)})')
    line('softmax regression', lr_ours, lr_sk,
         'sklearn LogisticRegression', 0.0)
    line('MLP 64-128-10', mlp_ours, mlp_sk, 'sklearn MLPClassifier', 0.0)
    if have_torch:
        line('MLP 64-128-10', mlp_ours, mlp_torch,
             'torch (within 0.5 points)', 0.005)


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'report':
        report(sys.argv[2])
    elif cmd == 'export':
        export(sys.argv[2])
    elif cmd == 'torch':
        run_torch(sys.argv[2], sys.argv[3], int(sys.argv[4]),
                  int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]),
                  int(sys.argv[8]) if len(sys.argv) > 8 else 0)
    elif cmd == 'sklearn':
        run_sklearn(sys.argv[2], int(sys.argv[3]),
                    int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    else:
        sys.exit(f'unknown command {cmd}')
