package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/compiler/diag"
)

// Output formats of vet, compile and diff.
const (
	formatText   = "text"
	formatJSON   = "json"
	formatGitHub = "github"
)

// addFormatFlag adds --format to cmd.
func addFormatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", formatText, "output format: text, json, or github (workflow commands that annotate a pull request)")
	cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{formatText, formatJSON, formatGitHub}, cobra.ShellCompDirectiveNoFileComp
	})
}

func checkFormat(cmd *cobra.Command, format string) error {
	switch format {
	case formatText, formatJSON, formatGitHub:
		return nil
	}
	return usageError{fmt.Errorf("%s: --format %q: want text, json or github", cmd.Name(), format), cmd.CommandPath()}
}

// jsonDiag is a diagnostic in -format json output.
type jsonDiag struct {
	Severity string `json:"severity"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Path     string `json:"path,omitempty"`
	Message  string `json:"message"`
}

func toJSONDiags(severity string, l diag.List) []jsonDiag {
	out := []jsonDiag{}
	for _, d := range l {
		out = append(out, jsonDiag{Severity: severity, File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Path: d.Path, Message: d.Msg})
	}
	return out
}

// writeDiags prints errors and warnings in the chosen format: text one per
// line (with a count), github as workflow commands. JSON output is written
// by the caller as part of its report.
func writeDiags(w io.Writer, format string, errs, warns diag.List) {
	switch format {
	case formatGitHub:
		for _, d := range warns {
			fmt.Fprintln(w, githubLine("warning", d))
		}
		for _, d := range errs {
			fmt.Fprintln(w, githubLine("error", d))
		}
	default:
		for _, d := range warns {
			fmt.Fprintf(w, "warning: %s\n", d.Error())
		}
		for _, d := range errs {
			fmt.Fprintln(w, d.Error())
		}
		if len(errs) > 1 {
			fmt.Fprintf(w, "%d errors\n", len(errs))
		}
	}
}

// githubLine renders a diagnostic as a GitHub Actions workflow command:
// ::error file=F,line=L,col=C,title=PATH::message.
func githubLine(kind string, d diag.Diagnostic) string {
	var props []string
	if d.Pos.File != "" {
		props = append(props, "file="+ghProp(d.Pos.File))
		if d.Pos.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", d.Pos.Line), fmt.Sprintf("col=%d", d.Pos.Col))
		}
	}
	if d.Path != "" {
		props = append(props, "title="+ghProp(d.Path))
	}
	line := "::" + kind
	if len(props) > 0 {
		line += " " + strings.Join(props, ",")
	}
	return line + "::" + ghData(d.Msg)
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProp escapes a workflow command's property value.
func ghProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
