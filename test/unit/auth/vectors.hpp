#pragma once
// Fixed hashes made once by independent tools, pasted here so the tests check Moth against them, not against itself:
//   mosquitto_passwd -c -b pw alice 'correct horse'            (Debian 12, mosquitto 2.0.11)
//   mosquitto_passwd -H sha512 -b pw bob 'battery staple'
//   echo -n 'Tr0ub4dor&3' | argon2 'moth-salt-16byte' -id -t 2 -k 1024 -p 1 -e   (Debian 12 argon2 CLI)
//   SCRAM-SHA-256 of RFC 7677 section 3's user (password "pencil", its salt, 4096 iterations): StoredKey and
//   ServerKey from Python's hashlib.pbkdf2_hmac and hmac, in `moth passwd -H scram-sha-256`'s form
namespace moth::auth::test {

inline constexpr const char* kPbkdf2Alice =
    "$7$101$plk0NDjp3Vgb8QKF$yfW1odb4HwJTCVlWnFo9Vt8/6m3bpa7NmMAzcXBGhC7S1ChbJqAYMvq8dHA6ELGHLCMvy+85JipV15RTkdIN2g==";
inline constexpr const char* kPbkdf2AlicePassword = "correct horse";

inline constexpr const char* kSha512Bob =
    "$6$8j39CZ7863Z8nc1h$FyyQ7/wmd4jpeIDQBACy2j07AMgc/7uSFWhjKOTys5VqasSKETusNeOy7BgKhQWU57DmgHPBtwa2ViENqc0M0w==";
inline constexpr const char* kSha512BobPassword = "battery staple";

inline constexpr const char* kArgon2Carol =
    "$argon2id$v=19$m=1024,t=2,p=1$bW90aC1zYWx0LTE2Ynl0ZQ$N6Io+mz9A5y/iIxQk2244mNJ5rqmlyuWZ0n+41Vi0t0";
inline constexpr const char* kArgon2CarolPassword = "Tr0ub4dor&3";

inline constexpr const char* kScramDave =
    "$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=$"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
inline constexpr const char* kScramDavePassword = "pencil";

}  // namespace moth::auth::test
