# Shared by scale.sh and compare-search.sh (sourced).

# The share of each query's exhaustive top-10 ($1, a TREC run) that the searched top-10 ($2)
# keeps, averaged over the queries the reference run ranks.
top10_kept() {
    awk 'FNR == NR { if ($4 <= 10) ref[$1] = ref[$1] " " $3 " "; next }
         $4 <= 10 && ($1 in ref) && index(ref[$1], " " $3 " ") { kept[$1]++ }
         END { n = 0; s = 0; for (q in ref) { n++; s += kept[q] / 10 }; printf "%.3f", (n ? s / n : 0) }' "$1" "$2"
}

# The binary ($1, default the release build), the work folder ($2) and the sizes (the rest) of
# a scale script's command line, as PLAID, WORK and SIZES.
scale_arguments() {
    local repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    PLAID=$(realpath "${1:-$repo/.build/release/plaid}")
    WORK=${2:-/tmp/plaid-scale}
    shift $(( $# > 2 ? 2 : $# ))
    SIZES=${*:-1000000 8000000 32000000 100000000}
}
