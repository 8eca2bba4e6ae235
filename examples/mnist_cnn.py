"""Train a small CNN with BatchNorm2d and Dropout2d on Fashion-MNIST (or MNIST), in plain steps you can edit.

    python examples/mnist_cnn.py                                         # Fashion-MNIST, downloads it once
    python examples/mnist_cnn.py --dataset mnist --holdout 2000          # MNIST's test split as 8k/2k

This is what ``tinygrad-bn mnist --model cnn`` does, without the options and the output files.
docs/mnist.md describes the defaults; docs/cnn.md explains the convolution and BatchNorm2d.
"""

import argparse
import time

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import data, nn, optim
from tinygrad_bn.train import evaluate

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", choices=("fashion-mnist", "mnist"), default="fashion-mnist")
parser.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/ or mnist/ (default: download)")
parser.add_argument("--holdout", type=int, default=0, help="train on the test split minus N images, test on N")
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

# 1. Data: uint8 images (N, 28, 28) and labels (N,).
if args.holdout:
    images, labels = data.load_dataset(args.dataset, "test", args.data_dir)
    train_images, train_labels = images[:-args.holdout], labels[:-args.holdout]
    test_images, test_labels = images[-args.holdout:], labels[-args.holdout:]
else:
    train_images, train_labels = data.load_dataset(args.dataset, "train", args.data_dir)
    test_images, test_labels = data.load_dataset(args.dataset, "test", args.data_dir)
if args.dataset == "mnist":
    mean, std = data.MNIST_MEAN, data.MNIST_STD
else:
    mean, std = data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD


# 2. Batches: shuffled each epoch, standardized, shaped as images (B, 1, 28, 28) for Conv2d.
def to_images(xb):
    return data.prepare(xb, mean, std).reshape(-1, 1, 28, 28)


train_loader = data.DataLoader(train_images, train_labels, batch_size=128, shuffle=True, seed=0, drop_last=True,
                               transform=to_images)
test_x = to_images(test_images)

# 3. The model (what tg.cnn() builds): two blocks Conv 3x3 -> BatchNorm2d -> ReLU -> MaxPool 2x2 -> Dropout2d,
#    then Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear. No bias before a BatchNorm: BN subtracts the
#    mean (a bias would cancel) and adds its own bias.
tg.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),   # -> (B, 32, 14, 14)
    nn.Dropout2d(0.1),
    nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # -> (B, 64, 7, 7)
    nn.Dropout2d(0.1),
    nn.Flatten(),                                                                                # -> (B, 3136)
    nn.Linear(64 * 7 * 7, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3),
    nn.Linear(128, 10),                                                                          # -> (B, 10)
)

# 4. Adam; the learning rate follows a cosine from 0.002 down to 0 over the epochs.
optimizer = optim.Adam(model.parameters(), lr=2e-3)
scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

# 5. Train: forward, loss, zero the old gradients, backward, update. Then evaluate on the test images.
for epoch in range(1, args.epochs + 1):
    start = time.perf_counter()
    model.train()                       # BatchNorm2d uses batch statistics, Dropout2d drops whole channels
    total_loss, correct, seen = 0.0, 0, 0
    for xb, yb in train_loader:
        logits = model(tg.Tensor(xb))   # (128, 10)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(yb)
        correct += int((logits.data.argmax(axis=1) == yb).sum())
        seen += len(yb)
    scheduler.step()
    test = evaluate(model, test_x, test_labels)   # eval mode + no_grad: running statistics, no dropout
    print(f"epoch {epoch:2d}  train loss {total_loss / seen:.4f}  train acc {100 * correct / seen:.2f}%  "
          f"test acc {100 * test['acc']:.2f}%  {time.perf_counter() - start:.1f} s")

# 6. Save the weights; tg.load + model.load_state_dict brings them back.
tg.save(model.state_dict(), "mnist_cnn.npz")
print("saved mnist_cnn.npz")
