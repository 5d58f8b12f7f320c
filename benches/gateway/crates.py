"""Which crate a demangled Rust symbol's code belongs to, for the profile
(`profile.sh`) and the resident-code count (`resident_code.py`) alike."""
import re

# The standard library's crates, counted as one.
STD = ('core', 'alloc', 'std', '__rustc')


def crate_of(symbol):
    """The path's first segment, or for `<T as path::Trait>` with a type
    parameter, a primitive or a slice as T, the trait's crate (the code is
    the trait's); None for a symbol without a path (C code)."""
    subject = re.sub(r'^<+(&mut |&|\*const |\*mut |dyn )*', '', symbol)
    path = re.match(r'([A-Za-z_][A-Za-z0-9_]*)::', subject)
    trait = re.search(r' as ([A-Za-z_][A-Za-z0-9_]*)::', symbol)
    name = path.group(1) if path else trait.group(1) if trait else None
    return 'Rust std (inlined)' if name in STD else name
