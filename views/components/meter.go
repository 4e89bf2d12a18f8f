package components

import (
	"fmt"
	"math"
)

func pct(p float64) string { return fmt.Sprintf("%.0f", math.Min(p, 100)) }

func barColor(level string) string {
	switch level {
	case "limit":
		return "bg-red-600"
	case "warn":
		return "bg-amber-500"
	}
	return "bg-indigo-500"
}

// barWidth picks a width class in 5 % steps; Tailwind sees every class name literally below.
func barWidth(p float64) string {
	steps := []string{"w-0", "w-[5%]", "w-[10%]", "w-[15%]", "w-[20%]", "w-[25%]", "w-[30%]", "w-[35%]", "w-[40%]", "w-[45%]",
		"w-[50%]", "w-[55%]", "w-[60%]", "w-[65%]", "w-[70%]", "w-[75%]", "w-[80%]", "w-[85%]", "w-[90%]", "w-[95%]", "w-full"}
	i := int(math.Round(math.Max(0, math.Min(p, 100)) / 5))
	return steps[i]
}

// ProgressWidth is the width class of a progress bar's filled part at percent p (5 % steps).
func ProgressWidth(p int) string { return barWidth(float64(p)) }
