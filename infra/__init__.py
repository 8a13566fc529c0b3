"""The CDK v2 app that deploys Headroom on AWS Lambda (see docs/deploy.md)."""
