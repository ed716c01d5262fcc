package steps

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// writeBenchCSV writes rows transactions over files CSV files under dir.
func writeBenchCSV(b *testing.B, dir string, rows, files int) {
	b.Helper()
	per := rows / files
	for f := range files {
		fh, err := os.Create(filepath.Join(dir, fmt.Sprintf("part-%05d.csv", f)))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		w.WriteString("transaction_id,card_id,amount,merchant_category,hour,is_fraud\n")
		for i := f * per; i < (f+1)*per; i++ {
			cat := "grocery"
			if i%100 == 7 {
				cat = ""
			}
			w.WriteString("t" + strconv.Itoa(i) + ",c" + strconv.Itoa(i%9973) + "," + strconv.Itoa(i%5000) + "." + strconv.Itoa(i%100) + "," + cat + "," + strconv.Itoa(i%24) + "," + strconv.Itoa(i%2) + "\n")
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		fh.Close()
	}
}

func benchValidate(b *testing.B, dir string, spec DatasetSpec, rows int, concurrency int) {
	var bytes int64
	b.ResetTimer()
	for range b.N {
		snap, failures, err := ValidateDataWith(context.Background(), spec, dir, ValidateOptions{Concurrency: concurrency})
		if err != nil || len(failures) > 0 || snap.Rows != int64(rows) {
			b.Fatalf("err %v failures %v rows %d", err, failureStrings(failures), snap.Rows)
		}
		bytes = snap.Bytes
	}
	b.StopTimer()
	b.SetBytes(bytes)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkValidateCSV checks 1M transactions: in one file, and in 8 files
// read one at a time and on all CPUs (concurrency 0).
func BenchmarkValidateCSV(b *testing.B) {
	const rows = 1_000_000
	for _, c := range []struct{ files, concurrency int }{{1, 0}, {8, 1}, {8, 0}} {
		b.Run(fmt.Sprintf("files=%d/concurrency=%d", c.files, c.concurrency), func(b *testing.B) {
			dir := b.TempDir()
			writeBenchCSV(b, dir, rows, c.files)
			benchValidate(b, dir, fraudSpec(dir, rows), rows, c.concurrency)
		})
	}
}

// BenchmarkValidateParquet checks 1M transactions in one Parquet file.
func BenchmarkValidateParquet(b *testing.B) {
	const rows = 1_000_000
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "part-00000.parquet"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	writeParquetRows(b, filepath.Join(dir, "part-00000.parquet"), txRows(rows, 0))
	spec := fraudSpec(dir, rows)
	spec.Format = FormatParquet
	benchValidate(b, dir, spec, rows, 0)
}

// BenchmarkValidateObjectStore checks 1M transactions in an in-process S3
// server (gofakes3, over loopback HTTP): 8 CSV files, and one Parquet file
// hashed by one GET and decoded by ranged GETs.
func BenchmarkValidateObjectStore(b *testing.B) {
	const rows = 1_000_000
	s3 := newFakeS3(b, "data")
	csvDir := b.TempDir()
	writeBenchCSV(b, csvDir, rows, 8)
	s3.upload("data", "csv", csvDir)
	pqDir := b.TempDir()
	writeParquetRows(b, filepath.Join(pqDir, "part-00000.parquet"), txRows(rows, 0))
	s3.upload("data", "parquet", pqDir)
	b.Run("csv/files=8", func(b *testing.B) {
		benchValidate(b, s3.uri("data/csv"), fraudSpec("", rows), rows, 0)
	})
	b.Run("parquet/files=1", func(b *testing.B) {
		spec := fraudSpec("", rows)
		spec.Format = FormatParquet
		benchValidate(b, s3.uri("data/parquet"), spec, rows, 0)
	})
}
