"""lvatool: build and test Azure Live Video Analytics gRPC extensions anywhere."""

__version__ = "0.1.0"
