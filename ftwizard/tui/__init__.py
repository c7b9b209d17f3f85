"""The Textual wizard: task -> hardware -> prompt -> train -> verdict. It drives the engine and never imports torch."""
