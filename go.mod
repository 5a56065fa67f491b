module migrator

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	github.com/google/go-cmp v0.7.0
	golang.org/x/sys v0.46.0
)

require github.com/klauspost/compress v1.20.3 // indirect
