"""The words the window uses that a domain expert may have to look up, each in plain words
(the "Words explained" window: F1, or the link under the steps)."""

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QTextBrowser, QVBoxLayout

# term -> plain words. The term is as the window shows it; the technical name, where another, in brackets.
WORDS = {
    "Accuracy": "The share of images the model names correctly. Measured on images it did not learn from, so it "
                "says how it will do on new ones.",
    "Balance the classes in the loss": "Counting each mistake on a rare class more, so the model does not learn "
                                       "to favour the most common class (class weights in the loss).",
    "Balanced accuracy": "The accuracy of each class, averaged over the classes: a rare class counts as much as a "
                         "common one, so always answering the most common class scores no better than guessing.",
    "Augmentation": "Training images varied a little each time they are shown (cropped, flipped, rotated), so the "
                    "model learns the object rather than one exact picture.",
    "AUROC": "How well a score separates two kinds of images, whatever threshold is chosen: 1.0 separates them "
             "perfectly, 0.5 is no better than a coin toss (area under the ROC curve).",
    "Batch size": "How many images training looks at before each small correction of the model. Lower it if the "
                  "computer runs out of memory.",
    "Calibration (temperature)": "Adjusting the model's stated confidence so that \u201c80% sure\u201d is right about "
                                 "80% of the time. One number, the temperature, softens or sharpens every answer.",
    "Classifier": "The small, new last part of the model that turns what the network sees into one of your "
                  "classes (the \u201chead\u201d). It is always trained on your images.",
    "Confusion matrix": "A table of which class each image really is (rows) against what the model answered "
                        "(columns); the diagonal holds the right answers.",
    "Cross-validation": "Scoring on images held out in turns: the images are split into parts, each part is scored "
                        "by a model trained on the others, so every image is scored by a model that did not see it.",
    "Convolutional network (CNN)": "The classic design of image networks: small filters slide over the image and "
                                   "build up edges, textures, parts and whole objects, layer by layer. Every model "
                                   "here is one but the vision transformer; ConvNeXt is a recent one.",
    "Earlier-layer features (cut)": "Using the network only up to an earlier layer, where it still sees generic "
                                    "things (edges, colours, textures), and training the new classifier on that.",
    "Epoch": "One pass of training over all training images.",
    "Expected calibration error (ECE)": "How far, on average, the model's stated confidence is from how often it "
                                        "is right. 0% is perfectly honest confidence.",
    "Fast arithmetic (bf16, fp16, fp32, channels-last)": "How the computer does its sums while training. Quicker, "
        "slightly rounded 16-bit arithmetic (bf16 or fp16: mixed precision) is used only where it is safe; "
        "full-accuracy 32-bit arithmetic (fp32) for everything you are shown. Channels-last keeps images in memory "
        "in the order the processor reads fastest. None of this changes what the model learns in any visible way.",
    "Features": "The numbers a network computes from an image: what it \u201csees\u201d. Early layers describe "
                "edges and textures, later ones whole objects.",
    "Fit in one go (to convergence)": "The classifier is fitted once, until more fitting no longer improves it "
                                      "(it has converged), instead of for a chosen number of epochs. How strongly "
                                      "it is kept from memorising the training images (its regularisation) is "
                                      "chosen by cross-validation on the training images.",
    "Fine-tuning": "Training some or all of the pretrained layers too, gently (a small learning rate), so they adjust "
                   "to your images without forgetting what they learnt.",
    "Fit score (LogME)": "A quick estimate, before any training, of how well a model's features suit your images. "
                         "Higher is better; small differences do not matter.",
    "Freeze depth (layer groups)": "How many groups of pretrained layers, counted from the output, are trained. "
                                   "The rest stay as they are (frozen).",
    "Grad-CAM (heatmap)": "A picture of where in the image the model looked to give its answer: warm colours "
                          "mattered most.",
    "\u201cI don't know\u201d (unknown score)": "How unlike every class an image is. Above the threshold the model "
                                                "answers \u201cI don't know\u201d instead of guessing a class.",
    "ImageNet": "The 1.2 million everyday photos in 1,000 classes on which the pretrained models learnt to see.",
    "ImageNet top-1": "How often the pretrained model named an ImageNet photo correctly at its first guess: a rough "
                      "sign of its quality, not of how it will do on your images.",
    "Learning rate": "How big each correction during training is. Too high and training jumps about; too low and it "
                     "learns slowly.",
    "Loss": "The training's own measure of how wrong the model is; lower is better. Training lowers it step by step.",
    "Layer (feature level)": "A network computes in stages, one after another; each stage (layer) sees the image "
                             "a little more as whole objects. \u201cLayer 2 of 6\u201d is an early stage: edges and "
                             "textures.",
    "Label sheet": "Your corrections (another class for an image, an image left out, new images labelled), kept in "
                   "TransferLab's data folder apart from your folder of images, which is never changed. Every step "
                   "reads the folder with them; \u201cUndo all corrections\u201d sets them aside.",
    "L2-SP": "Fine-tuning that keeps the pretrained layers close to where they started, which helps with few images.",
    "Majority-class baseline": "The score of always answering the most common class: a model must beat it to be "
                               "of any use.",
    "Domain adaptation (DANN)": "Training that also looks at unlabelled images of a new setting (another camera, "
                                "other light) so the model works there too.",
    "95% interval": "The range the true accuracy most likely lies in, given how few images were scored (Wilson "
                    "interval). Few images: a wide range.",
    "ONNX, TorchScript": "File formats for using the trained model in other programs.",
    "Parameters": "The numbers inside a network that training adjusts; a size measure of the model.",
    "Precision (of a class)": "Of the images the model called this class, the share that really are.",
    "Pretrained model": "A network that already learnt to see from millions of photos (ImageNet); transfer learning "
                        "reuses it for your classes.",
    "Quick check (nearest class)": "How well the model's features tell your classes apart, measured in seconds: "
                                   "each sample image is given the class whose average it lies nearest "
                                   "(nearest-class mean), by a check that did not see that image.",
    "Random seed": "A number that fixes every random choice (the split, the order of images): the same seed gives "
                   "the same split and the same run.",
    "Regularisation": "Holding a model back from memorising its training images, so it does better on new ones.",
    "Recall": "Of the images that really are this class, the share the model found.",
    "F1": "One number for precision and recall together (their harmonic mean); 1.00 is perfect.",
    "Simple classifier (linear)": "The simplest classifier: it weighs each number the network computes (its "
                                  "features) and adds them up per class. It is quick to fit and hard to overfit.",
    "Similarity to ImageNet (statistics shift)": "How far, inside the network, the average signals of your images "
        "lie from those of the ImageNet photos (stored in the network's BatchNorm layers). 0 is exactly like the "
        "photos; photos lie below about 0.2, X-rays and micrographs higher.",
    "Test every layer (layer-wise probe)": "Fitting a simple classifier on the features of each layer in turn, to "
                                           "see at which layer the network is best cut for your images. Its "
                                           "features are the layer's signals averaged over the image (pooled).",
    "Top losses": "The wrongly named images the model was most sure of: the first to look at, for a mislabelled "
                  "image or a kind of picture the model has not learnt.",
    "Stratified split": "Each class is split the same way into training and validation images, so both hold every "
                        "class in the same proportions.",
    "Unknown score (and its limit)": "How far an image lies from the labelled images of its nearest class, on the "
                                     "network's features (a Mahalanobis distance). About 1 is typical of the "
                                     "labelled images, and the higher, the less like them. The limit is set so "
                                     "that about 95% of the labelled images score below it: an image above it is "
                                     "unlike them.",
    "Two-stage fine-tuning": "First train the new classifier alone, then the pretrained layers with it, so an "
                             "untrained classifier does not disturb them.",
    "Vision transformer": "A newer design of image network: it cuts the image into small square patches and "
                          "lets every patch look at every other (ViT).",
    "Validation images": "Images set aside from training and used to score the model and choose between candidates. "
                         "They are never learnt from.",
    "Feature extraction": "Using the pretrained network as it is, frozen, and training only a new classifier on "
                          "what it sees in your images (its features). Quick, and good when your images resemble "
                          "everyday photos.",
    "Overfitting": "When a model learns its training images by heart, including their accidents, and does worse "
                   "on new ones: training accuracy climbs while validation accuracy stalls or drops.",
    "Unfreezing (gradual)": "Letting more of the pretrained layers train, one more group each epoch, from the top "
                            "down, instead of all at once.",
    "fastai's fine_tune": "The two-stage recipe of the fastai library: a few epochs of the new classifier alone, "
                          "then the pretrained layers with it at a lower learning rate (see Two-stage "
                          "fine-tuning).",
    "α (strength)": "How strongly a method pulls: for L2-SP, how hard the pretrained layers are held near where "
                    "they started; larger holds them closer.",
    "Learning-rate finder": "A quick test that trains for a few steps at ever larger learning rates and suggests "
                            "one from where the loss falls fastest.",
    "Held back (regularisation strength)": "How strongly the classifier is kept simple so that it does not learn "
                                           "the training images by heart; chosen by cross-validation (the L2 "
                                           "penalty).",
    "ROC curve (AUC)": "For two classes: how many of one class are caught against how many of the other are "
                       "wrongly caught, at every threshold (true and false positive rates); the area under it "
                       "(AUC) is 1.0 for a perfect separation and 0.5 for chance.",
    "Colour modes and bit depth": "How an image file stores its colours: colour (RGB), greyscale (L, one "
                                  "brightness per pixel), with transparency, or printing colours (CMYK); and how "
                                  "many bits each value has (8-bit: 256 levels). TransferLab converts them all to "
                                  "colour.",
    "Megapixels (MP)": "A picture's size in millions of dots (pixels): a 4000 \u00d7 3000 photo is 12 megapixels. "
                       "Pictures over about 89 are refused unless \u201cAllow very large images\u201d is ticked on "
                       "the Your images page.",
    "Centre crop": "The middle of an image, cut out after the image is scaled so its shorter side is a little "
                   "larger than the model's input: what the model sees when it is scored. The edges may be cut off.",
    "Median": "The middle value: half the values lie above it, half below. Unlike the average, one very large or "
              "very small value does not pull it.",
    "Log scale": "An axis on which each equal step multiplies (1, 10, 100) instead of adding, so small and large "
                 "values fit on one chart: a fall from 1 to 0.1 looks as big as one from 0.1 to 0.01.",
    "Images per second (images/s)": "How many images training or scoring gets through each second: the speed of "
                                    "this model on this computer. Higher is faster.",
    "Softening factor (temperature)": "The number the model's scores are divided by before they become "
                                      "probabilities (see Calibration). Above 1 makes every answer less sure, "
                                      "below 1 more sure; 1 changes nothing.",
    "Wilson interval": "The way the 95% interval of an accuracy is worked out: it stays honest with few images, "
                       "and when nearly all (or none) are right, where the simple formula fails.",
    "Run on a server\u2026": "Saves this run's settings and gives the command that trains it on a more powerful "
                             "computer with a graphics card (a GPU server or cluster), for when training here "
                             "would be too slow.",
    "Device: Auto (best available)": "Which part of the computer does the training's sums. Auto picks the fastest "
                                     "one there: an NVIDIA graphics card (CUDA), else an Apple graphics chip (MPS), "
                                     "else the main processor (CPU).",
}


def explain(*terms: str) -> str:
    """A tooltip: each term with its plain words."""
    return "".join(f"<p><b>{html.escape(t)}</b>: {html.escape(WORDS[t])}</p>" for t in terms)


class GlossaryDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Words explained")
        self.resize(560, 600)
        col = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Find a word…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._show)
        col.addWidget(self.filter)
        self.text = QTextBrowser()
        col.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)
        self._show("")
        self.filter.setFocus(Qt.FocusReason.OtherFocusReason)

    def shown_terms(self) -> list[str]:
        needle = self.filter.text().strip().lower()
        return [t for t in sorted(WORDS, key=lambda t: t.strip("\u201c").lower())
                if needle in t.lower() or needle in WORDS[t].lower()]

    def _show(self, _text: str) -> None:
        terms = self.shown_terms()
        self.text.setHtml(explain(*terms) if terms else "<p>No word matches.</p>")
