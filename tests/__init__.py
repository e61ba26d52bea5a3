"""The test suite. A package, so that tests/inference_service is imported as
`tests.inference_service` and never shadows the real `inference_service`."""
