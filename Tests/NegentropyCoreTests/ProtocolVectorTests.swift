import Foundation
import Testing
import WharfEncoding
import WharfRuntime

@testable import NegentropyProtocol

@Suite("Negentropy V1 against the reference implementation's vectors")
struct ProtocolVectorTests {
    @Test("varints encode most significant group first")
    func varints() throws {
        let vectors = try NegentropyVectors.load()
        #expect(vectors.varint.count == 8)
        for vector in vectors.varint {
            #expect(Varint.encoded(vector.n).hexString == vector.hex, "\(vector.n)")
            var reader = MessageReader(try [UInt8](hex: vector.hex))
            #expect(try reader.varint() == vector.n)
            #expect(reader.isAtEnd)
        }
    }

    @Test("fingerprints: empty, one id, wrap-around and little-endian carry")
    func fingerprints() throws {
        let vectors = try NegentropyVectors.load()
        #expect(vectors.fingerprint.count == 4)
        for vector in vectors.fingerprint {
            let ids = try vector.ids.map { try #require(EventID(hex: $0)) }
            #expect(ids.count == vector.count)
            #expect(Fingerprint.of(ids).hexString == vector.fingerprint)
            // The storage's prefix sums give the same fingerprint for the whole range.
            let items = ids.enumerated().map { NegentropyItem(timestamp: UInt64($0.offset), id: $0.element) }
            let storage = try SortedItems(items)
            #expect(storage.fingerprint(of: 0..<storage.count).hexString == vector.fingerprint)
        }
    }

    @Test("single messages: initiate, a reply, and the answer to an unsupported version")
    func singleMessages() throws {
        let vectors = try NegentropyVectors.load()
        #expect(vectors.single_messages.count == 4)
        for vector in vectors.single_messages {
            let items = try vector.items.map { pair in
                let hex = try #require(pair.last?.text)
                return NegentropyItem(timestamp: try #require(pair.first?.number), id: try #require(EventID(hex: hex)))
            }
            let negentropy = try Negentropy(storage: try SortedItems(items))
            switch (vector.role, vector.op) {
            case ("client", "initiate"):
                #expect(negentropy.initiate().hexString == vector.output)
            case ("server", _):
                let reply = try negentropy.reconcileAsResponder(try [UInt8](hex: try #require(vector.input))).reply
                #expect(reply.hexString == vector.output)
            default:
                Issue.record("unknown vector \(vector.role) \(vector.op ?? "")")
            }
        }
    }

    @Test("conversations reproduce every message, have and need of the reference", arguments: 0..<3)
    func conversation(index: Int) throws {
        let conversation = try NegentropyVectors.load().conversations[index]
        let client = try Negentropy(
            storage: try SortedItems(conversation.client_items_i.map(conversation.item)),
            frameSizeLimit: conversation.frame_size_limit_client)
        let server = try Negentropy(
            storage: try SortedItems(conversation.server_items_i.map(conversation.item)),
            frameSizeLimit: conversation.frame_size_limit_server)
        var message = client.initiate()
        var have = Set<EventID>(), need = Set<EventID>()
        for (number, round) in conversation.rounds.enumerated() {
            #expect(message.hexString == round.client_to_server, "\(conversation.name) round \(number): client message")
            let reply = try server.reconcileAsResponder(message).reply
            #expect(reply.hexString == round.server_to_client, "\(conversation.name) round \(number): server reply")
            let step = try client.reconcileAsInitiator(reply)
            let newHave = Set(step.have).subtracting(have), newNeed = Set(step.need).subtracting(need)
            #expect(Set(newHave.map(\.hex)) == Set(round.client_new_have), "\(conversation.name) round \(number): have")
            #expect(Set(newNeed.map(\.hex)) == Set(round.client_new_need), "\(conversation.name) round \(number): need")
            have.formUnion(step.have)
            need.formUnion(step.need)
            #expect(step.next?.hexString == round.client_next, "\(conversation.name) round \(number): next")
            guard let next = step.next else {
                #expect(number == conversation.rounds.count - 1, "finished early")
                break
            }
            message = next
        }
        #expect(have == Set(conversation.final_have_i.map(NegentropyVectors.id)))
        #expect(need == Set(conversation.final_need_i.map(NegentropyVectors.id)))
    }

    @Test("malformed messages are refused with the reference's reasons")
    func malformed() throws {
        let negentropy = try Negentropy(storage: try SortedItems([]))
        func reason(_ hex: String) -> String? {
            do {
                _ = try negentropy.reconcileAsResponder(try [UInt8](hex: hex))
                return nil
            } catch { return "\(error)" }
        }
        #expect(reason("") == "parse ends prematurely")
        #expect(reason("50") == "invalid negentropy protocol version byte")
        #expect(reason("6100") == "premature end of varint")
        #expect(reason("610021") == "bound key too long")
        #expect(reason("61000003") == "unexpected mode")
        #expect(reason("61000001aabb") == "parse ends prematurely")
        #expect(reason("6100000205") == "parse ends prematurely")  // 5 ids announced, none present
        #expect(reason("61ffffffffffffffffffffff") == "varint too long")
        #expect(throws: NegentropyError.self) { try Negentropy(storage: try SortedItems([]), frameSizeLimit: 4095) }
        let item = NegentropyItem(timestamp: 1, id: NegentropyVectors.id(1))
        #expect(throws: NegentropyError.self) { try SortedItems([item, item]) }
        // An initiator refuses a version it does not speak.
        #expect(throws: NegentropyError.self) { try negentropy.reconcileAsInitiator([0x62]) }
    }
}
