import ConsoleCore

// The console: the operator's web pages over the services' gRPC APIs. Configuration: README.md.
await ConsoleRunner.main()
