// Command quote-builder is an example Komand skill: it prices a list of
// line items with an optional discount and the tenant's tax rate (from the
// installation's config). It needs no permission at all.
package main

import (
	"errors"
	"math"
	"strconv"

	"github.com/komand-ai/komand/sdk/skill"
)

type item struct {
	SKU       string  `json:"sku"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
}

type input struct {
	Customer        string  `json:"customer"`
	Items           []item  `json:"items"`
	DiscountPercent float64 `json:"discountPercent"`
}

type line struct {
	SKU   string  `json:"sku"`
	Total float64 `json:"total"`
}

type output struct {
	Customer string  `json:"customer"`
	Lines    []line  `json:"lines"`
	Subtotal float64 `json:"subtotal"`
	Discount float64 `json:"discount"`
	Tax      float64 `json:"tax"`
	Total    float64 `json:"total"`
	Currency string  `json:"currency"`
}

func round(v float64) float64 { return math.Round(v*100) / 100 }

func main() {
	skill.Run(func(c *skill.Context, in input) (output, error) {
		if len(in.Items) == 0 {
			return output{}, errors.New("a quote needs at least one item")
		}
		taxRate := 0.0
		if v, ok := c.Config("tax-rate-percent"); ok {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || r > 100 {
				return output{}, errors.New("the tax-rate-percent setting is not a percentage")
			}
			taxRate = r
		}
		currency, ok := c.Config("currency")
		if !ok {
			currency = "EUR"
		}
		out := output{Customer: in.Customer, Currency: currency}
		for _, it := range in.Items {
			t := round(float64(it.Quantity) * it.UnitPrice)
			out.Lines = append(out.Lines, line{SKU: it.SKU, Total: t})
			out.Subtotal += t
		}
		out.Subtotal = round(out.Subtotal)
		out.Discount = round(out.Subtotal * in.DiscountPercent / 100)
		out.Tax = round((out.Subtotal - out.Discount) * taxRate / 100)
		out.Total = round(out.Subtotal - out.Discount + out.Tax)
		c.Log(skill.Info, "quote for %d items", len(in.Items))
		return out, nil
	})
}
