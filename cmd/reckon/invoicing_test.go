package main

import "testing"

func TestParseTaxRates(t *testing.T) {
	got, err := parseTaxRates("de=0.19:VAT 19 %, FR=0.2:TVA 20 %,US=0")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["DE"].Rate.String() != "0.19" || got["DE"].Label != "VAT 19 %" || got["FR"].Label != "TVA 20 %" || got["US"].Label != "Tax" {
		t.Errorf("parsed %+v", got)
	}
	for _, bad := range []string{"DE", "DEU=0.19", "DE=abc", "DE=1.5", "DE=-0.1", "DE=0.19,,FR=0.2"} {
		if _, err := parseTaxRates(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
