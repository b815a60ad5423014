package main

// Subcommands whose issues have not landed yet: they say so and exit 2.
var (
	runDemo = notBuilt("demo")
)
