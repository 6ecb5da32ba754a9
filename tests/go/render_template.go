// Renders a Go template the way Ollama does (text/template, the chat's data as JSON on stdin), so the
// tests can hold the studio's Python subset of Go templates against the real thing.
//
//	go run render_template.go TEMPLATE_FILE < data.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"
)

func main() {
	source, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var data map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&data); err != nil {
		fail(err)
	}
	tmpl, err := template.New("ollama").Parse(string(source))
	if err != nil {
		fail(err)
	}
	if err := tmpl.Execute(os.Stdout, data); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
