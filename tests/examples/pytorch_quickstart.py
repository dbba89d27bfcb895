"""PyTorch's "Quickstart" training loop (pytorch.org/tutorials/beginner/basics/quickstart_tutorial),
run by gradkit with only the import lines changed.

Fashion-MNIST cannot be downloaded everywhere, so the data block uses scikit-learn's built-in
8x8 digits, shaped as ToTensor would give them ((N, 1, 8, 8) in [0, 1], int64 labels), and
`nn.Linear(28*28, 512)` reads `nn.Linear(8*8, 512)`; `torch.manual_seed(0)` is added. From
`device = ...` on, the program is the tutorial's, character for character, except the
`torch.save`/`torch.load` part (a pickle file; gradkit writes none): its `state_dict` round
trip is done in memory instead.

    python tests/examples/pytorch_quickstart.py            # gradkit
    python tests/examples/pytorch_quickstart.py --torch    # the same program in PyTorch itself
"""

import sys

if "--torch" in sys.argv:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
else:
    import gradkit as torch
    from gradkit import nn
    from gradkit.data import DataLoader, TensorDataset

EPOCHS = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 5

# -- data (the tutorial downloads Fashion-MNIST here) --------------------------------------------
from sklearn.datasets import load_digits  # noqa: E402

torch.manual_seed(0)
digits = load_digits()
images = (digits.images / 16.0).astype("float32")[:, None]      # ToTensor: (N, 1, H, W), [0, 1]
labels = digits.target.astype("int64")
training_data = TensorDataset(torch.from_numpy(images[:1437]), torch.from_numpy(labels[:1437]))
test_data = TensorDataset(torch.from_numpy(images[1437:]), torch.from_numpy(labels[1437:]))

batch_size = 64

# Create data loaders.
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

# -- from here on, the tutorial's program ------------------------------------------------------
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")

# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8*8, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits

model = NeuralNetwork().to(device)
print(model)

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % 100 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")

def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return correct, test_loss

epochs = EPOCHS
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
print("Done!")

# The tutorial saves the state dict with torch.save (pickle) and loads it into a new model.
state = model.state_dict()
model = NeuralNetwork().to(device)
model.load_state_dict(state)

classes = [str(d) for d in range(10)]

model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
