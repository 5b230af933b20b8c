// Command x509verify verifies a certificate chain the way a Go client does (crypto/x509's
// Certificate.Verify: signatures, validity, basicConstraints and pathLen, name constraints of
// every CA in the chain, and the leaf's name against -dns) and prints "ok" or the error.
//
// Usage: x509verify -roots ROOTS.pem [-untrusted CHAIN.pem] -leaf LEAF.pem [-dns NAME]
//
// Exit status: 0 verified, 1 not verified (the error is printed), 2 bad usage or unreadable
// input. Any extended key usage is accepted: what is tested is the chain, not the usage.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
)

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return certs, nil
}

func run() int {
	roots := flag.String("roots", "", "PEM file of trusted roots")
	untrusted := flag.String("untrusted", "", "PEM file of intermediates (optional)")
	leafPath := flag.String("leaf", "", "PEM file whose first certificate is verified")
	dns := flag.String("dns", "", "the DNS name the leaf must be valid for (optional)")
	flag.Parse()
	if *roots == "" || *leafPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: x509verify -roots ROOTS.pem [-untrusted CHAIN.pem] -leaf LEAF.pem [-dns NAME]")
		return 2
	}
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		DNSName:       *dns,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	rc, err := readCerts(*roots)
	if err != nil {
		fmt.Fprintln(os.Stderr, "x509verify:", err)
		return 2
	}
	for _, c := range rc {
		opts.Roots.AddCert(c)
	}
	if *untrusted != "" {
		ic, err := readCerts(*untrusted)
		if err != nil {
			fmt.Fprintln(os.Stderr, "x509verify:", err)
			return 2
		}
		for _, c := range ic {
			opts.Intermediates.AddCert(c)
		}
	}
	leaf, err := readCerts(*leafPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "x509verify:", err)
		return 2
	}
	if _, err := leaf[0].Verify(opts); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

func main() {
	os.Exit(run())
}
