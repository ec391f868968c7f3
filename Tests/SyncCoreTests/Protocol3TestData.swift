import Foundation
import SyncCore
import WharfProto
import WharfTestSupport

typealias P3Item = Wharf_Backrest_Protocol3_SyncStreamItem

extension Protocol3ClientIdentity {
    func operation(_ id: Int64, flow: Int64, modno: Int64, message: String = "") -> V1_Operation {
        backrestTestOperation(id, flow: flow, modno: modno, instanceID: instanceID, message: message)
    }
}

func received(_ operations: [V1_Operation]) -> P3Item {
    .with { $0.receiveOperations = .with { $0.event = .with { $0.updatedOperations = .with { $0.operations = operations } } } }
}

func manifest(_ entries: [(id: Int64, modno: Int64)]) -> P3Item {
    .with {
        $0.operationManifest = .with {
            $0.opIds = entries.map(\.id)
            $0.modnos = entries.map(\.modno)
        }
    }
}
