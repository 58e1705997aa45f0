//! What a kernel issues per nonce, by instruction class: the bench's ceiling for a backend is a
//! microkernel's rate for the same mix divided by this.

/// Instructions per nonce by class, as the backend's instruction set issues them (a rotate on
/// AVX2 is two shifts and an or, on AVX-512 one `vprold`), after constant folding. Vector
/// instructions are divided by the lane count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct OpMix {
    /// 32-bit adds.
    pub add: f64,
    /// Rotates the instruction set does in one instruction.
    pub rotate: f64,
    /// Shifts.
    pub shift: f64,
    /// Bitwise logic: and, or, xor, and-not, three-input logic.
    pub logic: f64,
    /// Byte shuffles, compares, mask and broadcast work outside the rounds.
    pub other: f64,
}

impl OpMix {
    /// Every instruction counted.
    pub fn total(&self) -> f64 {
        self.add + self.rotate + self.shift + self.logic + self.other
    }
}
