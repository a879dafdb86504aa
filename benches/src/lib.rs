//! Criterion benches of linli live in `benches/`.
