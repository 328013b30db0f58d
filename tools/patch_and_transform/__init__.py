"""An offline evaluator of the Crossplane composition semantics our platform APIs use.

`crank render` and function-patch-and-transform cannot be installed here (the Go module proxy refuses every
crossplane module), so this package evaluates what our Compositions use, the way Crossplane v2 (claims +
`apiextensions.crossplane.io/v1` XRDs) and function-patch-and-transform v0.10.8 do it. Anything outside that subset
raises `RenderError`: an unknown patch, transform, policy or function is never silently skipped.

Each module's docstring says which behaviour it evaluates and where it comes from: `fieldpath` (field paths),
`gofmt` (Go formatting), `transforms`, `patches`, `composite` (claim -> composite, composed metadata, connection
details) and `pipeline` (the function pipeline, reconciles and `render`). `python -m tools.render` is the command line.
"""
