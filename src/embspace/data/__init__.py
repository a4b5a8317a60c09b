"""Data: corpora, interaction tables (recommendation), small built-in datasets available offline, and spoken words
synthesised with espeak-ng."""

from .builtin import demo_words, python_help_passages, python_help_sentences
from .corpus import TextCorpus
from .interactions import Interactions, load_interactions
from .mnist import DIGIT_PHRASINGS, DIGIT_WORDS, digit_captions, load_mnist
from .movielens import MOVIELENS_100K_SPLITS, load_movielens_100k, load_movielens_latest_small
from .pairs import load_labels, load_pairs
from .splits import leave_last_out, random_split
from .spoken_words import SpokenWords, spoken_captions, spoken_digits, synthesize_words
from .vocab import Vocab

__all__ = [
    "DIGIT_PHRASINGS",
    "DIGIT_WORDS",
    "MOVIELENS_100K_SPLITS",
    "Interactions",
    "SpokenWords",
    "TextCorpus",
    "Vocab",
    "demo_words",
    "digit_captions",
    "leave_last_out",
    "load_interactions",
    "load_labels",
    "load_mnist",
    "load_movielens_100k",
    "load_movielens_latest_small",
    "load_pairs",
    "python_help_passages",
    "python_help_sentences",
    "random_split",
    "spoken_captions",
    "spoken_digits",
    "synthesize_words",
]
