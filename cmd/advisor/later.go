package main

// Subcommands whose issues have not landed yet: they say so and exit 2.
var (
	runAgent = notBuilt("run")
	runDemo  = notBuilt("demo")
)
