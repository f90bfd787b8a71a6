// Command elt turns dbt, Sling and dlt metadata into one asset graph and
// materializes it. See README.md for a tour.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
