//! Synthetic Vietnamese names for people and communes, and unique phone numbers.
//! Only plausible-looking values: no real person or place is meant.

use rand::Rng;
use rand::seq::IndexedRandom;

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương",
    "Lý",
];
/// Family names common among the northern mountain ethnic minorities.
const FAMILY_MINORITY: &[&str] =
    &["Lò", "Hà", "Sầm", "Giàng", "Vàng", "Lục", "Nông", "Ma", "Triệu", "Hoàng", "Lăng", "Mùa"];
const GIVEN_F: &[&str] =
    &["Lan", "Hoa", "Mai", "Hương", "Thảo", "Hằng", "Ngọc", "Linh", "Trang", "Dung", "Nhung", "Yến", "Vân"];
const GIVEN_M: &[&str] =
    &["Minh", "Hùng", "Dũng", "Tuấn", "Nam", "Sơn", "Hải", "Long", "Quang", "Thắng", "Bình", "Cường", "Đức"];
const PLACE_A: &[&str] = &[
    "Tân", "Phú", "Thanh", "Hòa", "Vĩnh", "An", "Bình", "Đông", "Tây", "Nam", "Bắc", "Hưng", "Quang", "Minh", "Trung",
    "Yên", "Thạch", "Xuân", "Kim", "Lộc",
];
const PLACE_B: &[&str] = &[
    "Lập", "Thịnh", "Sơn", "Phong", "Hà", "Lâm", "Thành", "Hiệp", "Lợi", "Khánh", "Tiến", "Hòa", "Mỹ", "Phúc", "Long",
    "Đồng", "Xuân", "Quang", "Thủy", "Vân",
];

pub fn person(rng: &mut impl Rng, female: bool, minority: bool) -> String {
    let family = if minority { FAMILY_MINORITY } else { FAMILY };
    let (middle, given) = if female { ("Thị", GIVEN_F) } else { ("Văn", GIVEN_M) };
    format!("{} {} {}", family.choose(rng).unwrap(), middle, given.choose(rng).unwrap())
}

/// The `n`-th commune name of a province: distinct for the first 400, numbered after.
pub fn commune(n: usize) -> String {
    let (a, b) = (PLACE_A[n % PLACE_A.len()], PLACE_B[(n / PLACE_A.len()) % PLACE_B.len()]);
    let round = n / (PLACE_A.len() * PLACE_B.len());
    if round == 0 { format!("{a} {b}") } else { format!("{a} {b} {}", round + 1) }
}

/// A unique mobile number for account `id` (< 10^8): an affine bijection of the id
/// over eight digits, behind one of the mobile prefixes.
pub fn phone(id: i64) -> String {
    const PREFIXES: [&str; 5] = ["03", "05", "07", "08", "09"];
    let digits = (id.rem_euclid(100_000_000) * 48_271 + 12_345) % 100_000_000;
    format!("{}{digits:08}", PREFIXES[(id % 5) as usize])
}
