"""Turns labelled face photos into aligned crops and trains the ResNet-50 age model."""
