/// gRPC status codes as the Connect protocol names them, and the HTTP status of a unary Connect error.
enum ConnectCodes {
    static let names = [
        1: "canceled", 2: "unknown", 3: "invalid_argument", 4: "deadline_exceeded", 5: "not_found",
        6: "already_exists", 7: "permission_denied", 8: "resource_exhausted", 9: "failed_precondition",
        10: "aborted", 11: "out_of_range", 12: "unimplemented", 13: "internal", 14: "unavailable",
        15: "data_loss", 16: "unauthenticated",
    ]

    static func name(_ code: Int) -> String { names[code] ?? "unknown" }

    static func httpStatus(_ code: Int) -> Int {
        switch code {
        case 1: 499
        case 3, 9, 11: 400
        case 4: 504
        case 5: 404
        case 6, 10: 409
        case 7: 403
        case 8: 429
        case 12: 501
        case 14: 503
        case 16: 401
        default: 500
        }
    }
}
