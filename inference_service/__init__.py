"""FastAPI service that finds every face in a photo and estimates its age."""
