"""Face detection, alignment and age prediction: the part that training imports too.

Nothing here imports training-only libraries (scipy, matplotlib, tqdm).
"""
