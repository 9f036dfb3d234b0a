import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid metadata`: the documents a filter matches, with their metadata.
struct Metadata: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the documents whose metadata matches a filter, with their metadata.",
        discussion: "Checks a --filter before searching with it. Without --filter, lists every document and the index's fields.")

    @OptionGroup var index: IndexOptions
    @OptionGroup var filter: FilterOptions

    @Option(help: "Where the list goes: a file, or - for standard output.")
    var output: String = "-"

    @Flag(help: "Print JSON: {\"fields\": {name: type}, \"documents\": [{\"id\", \"metadata\"}]}.")
    var json = false

    func validate() throws { try filter.validate() }

    func run() throws {
        try runReportingErrors {
            let destination = try OutputDestination.prepare(output)
            let opened = try CompressedIndex(path: index.index)
            let ordinals = try filter.metadataFilter.map { try opened.documents(matching: $0).ordinals }
                ?? (0..<opened.ordinalCount).filter { !opened.isDeleted($0) }
            let metadata = try opened.metadata(of: ordinals)
            var text = ""
            if json {
                let object: [String: Any] = [
                    "fields": Dictionary(uniqueKeysWithValues: opened.metadataFields.map { ($0.name, $0.type.rawValue) }),
                    "documents": ordinals.map { ordinal -> [String: Any] in
                        ["id": opened.documentID(ordinal), "metadata": (metadata[ordinal] ?? [:]).mapValues(\.jsonObject)]
                    },
                ]
                text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self) + "\n"
            } else {
                for ordinal in ordinals {
                    let fields = (metadata[ordinal] ?? [:]).mapValues(\.jsonObject)
                    let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .fragmentsAllowed])
                    text += "\(opened.documentID(ordinal))\t\(String(decoding: data, as: UTF8.self))\n"
                }
            }
            try destination.write(Data(text.utf8))
            printStatus("\(ordinals.count) of \(opened.documentCount) documents match")
        }
    }
}
