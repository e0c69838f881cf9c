"""The edges where events arrive: HTTP (the router, request parsing, responses, middleware, request and response
shapes, the OpenAPI document and Swagger UI, API Gateway's own answers) and SQS (the settlement consumer)."""
